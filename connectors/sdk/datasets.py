"""The normalised datasets of DESIGN: every connector of a category yields these shapes,
so an app works with any bank, any meter, any phone.

Money and quantities are decimal strings, never floats; times are ISO 8601 with their
offset; units are explicit.
"""

from __future__ import annotations

from typing import ClassVar

from .schema import (
    AnyJson,
    Choice,
    Currency,
    Day,
    DecimalText,
    Instant,
    Integer,
    ListOf,
    Nested,
    Shape,
    Text,
)


class Dataset(Shape):
    dataset: ClassVar[str]
    title: ClassVar[str]


class BankAccount(Dataset):
    dataset = "bank.account"
    title = "Bank accounts with their latest balance"
    account_id = Text("The account's stable id: IBAN, or the bank's account number")
    institution = Text("The bank", required=False)
    name = Text("The account's name at the bank", required=False)
    iban = Text(required=False)
    currency = Currency()
    kind = Choice("checking", "savings", "credit_card", "loan", "investment", "other", required=False)
    balance = DecimalText("Ledger (booked) balance", required=False, unit="currency")
    available_balance = DecimalText("Available balance, where the bank reports one", required=False, unit="currency")
    balance_at = Instant("When the balance was true", required=False)


class BankTransaction(Dataset):
    dataset = "bank.transaction"
    title = "Bank and card transactions"
    account_id = Text()
    booked_on = Day("Booking date", required=False)
    value_on = Day("Value date", required=False)
    amount = DecimalText("Negative for money out", unit="currency")
    currency = Currency()
    description = Text(required=False)
    counterparty = Text(required=False)
    status = Choice("booked", "pending")
    category = Text(required=False)


class BillSubscription(Dataset):
    dataset = "bill.subscription"
    title = "Contracts and accounts at a biller (a phone line, an energy contract) that documents belong to"
    subscription_id = Text("The biller's id of the contract or account")
    issuer = Text("Who issues the documents: the organisation, or the module that reads it", required=False)
    label = Text(required=False)
    subscriber = Text("The subscriber's name or identifier at the biller", required=False)
    valid_until = Day("When the contract ends, when it does", required=False)
    renews_on = Day("When the allowance or the period renews", required=False)


class BillDocument(Dataset):
    dataset = "bill.document"
    title = "Bills and documents from billers and banks, with the original file kept in the vault"
    document_id = Text("The biller's id of the document")
    subscription_id = Text("The bill.subscription it belongs to", required=False)
    issuer = Text("Who issued it: the organisation, or the module that reads it", required=False)
    issued_on = Day("The day it was issued or sent", required=False)
    label = Text(required=False)
    kind = Choice(
        "bill",
        "statement",
        "contract",
        "certificate",
        "notice",
        "report",
        "payslip",
        "rib",
        "kiid",
        "identity",
        "other",
        required=False,
    )
    number = Text("The document's number, as printed on it", required=False)
    amount = DecimalText("A bill's total to pay, taxes included", required=False, unit="currency")
    currency = Currency(required=False)
    due_on = Day("When a bill must be paid", required=False)
    period_start = Day("The first day a bill covers", required=False)
    period_end = Day("The last day a bill covers", required=False)
    format = Text("The file's format, e.g. pdf", required=False)
    file_sha256 = Text(
        "SHA-256 of the original file kept in the vault (selfdata files list); none: the vendor has no file",
        required=False,
    )
    file_name = Text("The kept file's name", required=False)


class EnergyReading(Dataset):
    dataset = "energy.reading"
    title = "Meter readings, filed under the interval they measure"
    meter_id = Text()
    commodity = Choice("electricity", "gas", "water")
    direction = Choice("consumption", "production")
    start = Instant()
    end = Instant()
    quantity = DecimalText(unit="unit")
    unit = Choice("kWh", "Wh", "m3", "therm", "ft3", "L")
    quality = Choice("actual", "estimated", "revised", "missing", "unknown", required=False)
    resolution = Text(
        "The interval as an ISO 8601 duration (PT30M, P1D): sum one resolution, not several", required=False
    )


class TariffBand(Shape):
    name = Text("The band's name on the bill: peak, off-peak, HP, HC, day, night")
    price = DecimalText("Price per kWh in the tariff's currency (its tax as the tariff says)")
    start = Text("Local time the band starts, HH:MM (00:00 with end 00:00: all day)")
    end = Text("Local time the band ends, HH:MM; before start: the band runs past midnight")
    days = Choice("all", "weekdays", "weekends", required=False)
    colour = Choice("blue", "white", "red", required=False, description="Tempo: the day colour the band is for")


class EnergyTariff(Dataset):
    dataset = "energy.tariff"
    title = "Energy tariffs with their validity and prices, entered or imported by the user"
    tariff_id = Text("The tariff's own id, e.g. octopus:E-1R-AGILE-24-10-01-C or edf-tempo-2025")
    supplier = Text()
    product = Text("The product's name or code")
    commodity = Choice("electricity", "gas")
    direction = Choice("consumption", "production", required=False)
    valid_from = Instant("First moment the tariff prices")
    valid_to = Instant("The moment it stops pricing (exclusive); none: still valid", required=False)
    currency = Currency()
    standing_charge = DecimalText("Per day, in the currency", required=False, unit="currency")
    kind = Choice(
        "fixed",
        "time_of_use",
        "tempo",
        "half_hourly",
        description="fixed: one price; time_of_use: bands (peak/off-peak, HP/HC, Economy 7); "
        "tempo: bands per day colour (energy.day_colour); half_hourly: prices in energy.price",
    )
    unit_price = DecimalText("The price per kWh of a fixed tariff", required=False, unit="currency")
    bands = ListOf(TariffBand, required=False)
    timezone = Text("The time zone the bands' times are read in, e.g. Europe/Paris", required=False)
    tax_percent = DecimalText(
        "Tax added on top of prices and standing charge (VAT); none when the prices include it", required=False
    )
    held = Choice(
        "yes", "no", required=False, description="yes: your own tariff over its validity; no: an offer to compare"
    )
    calorific_value = DecimalText("Gas: the calorific value your bill states, MJ/m3", required=False)
    volume_correction = DecimalText("Gas: the volume correction factor (UK 1.02264)", required=False)


class EnergyPrice(Dataset):
    dataset = "energy.price"
    title = "Unit prices of a half-hourly tariff (Agile, a spot-price series)"
    tariff_id = Text()
    start = Instant()
    end = Instant()
    price = DecimalText("Price per kWh in the currency", unit="currency")
    currency = Currency()


class EnergyDayColour(Dataset):
    dataset = "energy.day_colour"
    title = "Day colours of a calendar such as EDF Tempo (blue, white, red)"
    calendar = Text("e.g. tempo")
    day = Day("The tariff day; a Tempo day runs from 06:00 to 06:00 the next day")
    colour = Choice("blue", "white", "red")


class Component(Shape):
    code = Text()
    value = DecimalText(required=False)
    unit = Text(required=False)


class HealthObservation(Dataset):
    dataset = "health.observation"
    title = "Measurements: heart rate, steps, weight, blood pressure..."
    code = Text("LOINC code, or the source's own type (HealthKit identifier)")
    code_system = Text("e.g. http://loinc.org or HealthKit")
    name = Text("Human-readable name of the code", required=False)
    value = DecimalText("Numeric value", required=False, unit="unit")
    value_text = Text("Value of a category or text observation", required=False)
    unit = Text(required=False)
    start = Instant()
    end = Instant(required=False)
    device = Text(required=False)
    components = ListOf(Component, "e.g. systolic and diastolic of a blood pressure", required=False)


class Measure(Shape):
    value = DecimalText()
    unit = Text()


class HealthWorkout(Dataset):
    dataset = "health.workout"
    title = "Workouts"
    activity = Text()
    start = Instant()
    end = Instant()
    duration_s = Integer(required=False)
    distance = Nested(Measure, required=False)
    energy = Nested(Measure, required=False)
    source_device = Text(required=False)


class HealthClinical(Dataset):
    dataset = "health.clinical"
    title = "Clinical records (FHIR resources kept whole)"
    resource_type = Text()
    id = Text()
    resource = AnyJson("The FHIR resource, whole")
    effective = Instant("The resource's own main date", required=False)


class TelecomCall(Dataset):
    dataset = "telecom.call"
    title = "Calls"
    direction = Choice("in", "out", "missed", "rejected")
    number = Text("E.164 where possible; empty when withheld", required=False)
    name = Text("Contact name", required=False)
    started_at = Instant()
    duration_s = Integer()
    line = Text(required=False)


class Part(Shape):
    name = Text(required=False)
    content_type = Text()
    size = Integer(required=False)


class TelecomMessage(Dataset):
    dataset = "telecom.message"
    title = "Text and multimedia messages"
    direction = Choice("in", "out")
    number = Text("E.164 where possible", required=False)
    name = Text("Contact name", required=False)
    at = Instant()
    kind = Choice("sms", "mms")
    body = Text(required=False)
    parts = ListOf(Part, required=False)
    thread = Text(required=False)


class TelecomUsage(Dataset):
    dataset = "telecom.usage"
    title = "Data traffic per interval"
    start = Instant()
    end = Instant()
    bytes_up = Integer()
    bytes_down = Integer()
    line = Text(required=False)


SECURITY_KINDS = ("stock", "mutual_fund", "option", "debt", "other")


class InvestAccount(Dataset):
    dataset = "invest.account"
    title = "Brokerage and retirement-plan accounts with their cash and market value"
    account_id = Text("The broker's account number")
    institution = Text("The broker (OFX FI/ORG, else BROKERID)", required=False)
    broker_id = Text("The broker's domain-like id (OFX BROKERID)", required=False)
    currency = Currency()
    cash_balance = DecimalText("Cash available (OFX AVAILCASH)", required=False, unit="currency")
    market_value = DecimalText("Sum of the positions' market values", required=False, unit="currency")
    margin_balance = DecimalText("Negative when money is owed on margin", required=False, unit="currency")
    short_balance = DecimalText("Market value of short positions", required=False, unit="currency")
    buying_power = DecimalText(required=False, unit="currency")
    balance_at = Instant("When the balances and positions were true", required=False)


class InvestSecurity(Dataset):
    dataset = "invest.security"
    title = "Securities named in brokerage statements: ids, ticker, name, last price"
    security_id = Text("The id the statement gives (a CUSIP for US brokers, an ISIN...)")
    id_type = Text("What kind of id: CUSIP, ISIN, SEDOL, or the broker's own (PRIVATE, FUND...)")
    ticker = Text(required=False)
    name = Text(required=False)
    kind = Choice(*SECURITY_KINDS)
    currency = Currency(required=False)
    unit_price = DecimalText("The last price the statement gives", required=False, unit="currency")
    price_at = Instant("When that price was true", required=False)


class InvestPosition(Dataset):
    dataset = "invest.position"
    title = "Holdings of a brokerage account as of a statement date"
    account_id = Text()
    security_id = Text()
    id_type = Text()
    ticker = Text(required=False)
    name = Text(required=False)
    kind = Choice(*SECURITY_KINDS)
    held_in = Choice("cash", "margin", "short", "other", required=False)
    position = Choice("long", "short", required=False)
    units = DecimalText("Shares, fund units, or the face value of a bond")
    unit_price = DecimalText(required=False, unit="currency")
    market_value = DecimalText(required=False, unit="currency")
    currency = Currency()
    as_of = Day("The statement's date: a position is a snapshot")
    priced_at = Instant("When the unit price was true", required=False)


class InvestTransaction(Dataset):
    dataset = "invest.transaction"
    title = "Trades, income, reinvestments and transfers of brokerage accounts"
    account_id = Text()
    kind = Choice(
        "buy",
        "sell",
        "income",
        "reinvest",
        "transfer",
        "expense",
        "split",
        "return_of_capital",
        "margin_interest",
        "journal",
        "option_closure",
    )
    action = Text("The file's own type and sub-type, e.g. BUYSTOCK/BUY, SELLMF/SELL, INCOME/DIV, TRANSFER/IN")
    security_id = Text(required=False)
    id_type = Text(required=False)
    ticker = Text(required=False)
    name = Text(required=False)
    units = DecimalText("As the broker writes them: negative for units leaving the account", required=False)
    unit_price = DecimalText(required=False, unit="currency")
    commission = DecimalText(required=False, unit="currency")
    fees = DecimalText(required=False, unit="currency")
    taxes = DecimalText(required=False, unit="currency")
    total = DecimalText(
        "Cash effect: negative for money out (a buy), positive for money in", required=False, unit="currency"
    )
    currency = Currency()
    traded_on = Day()
    settled_on = Day(required=False)
    income_type = Choice("dividend", "interest", "capital_gain_long", "capital_gain_short", "other", required=False)
    description = Text(required=False)


ALL: tuple[type[Dataset], ...] = (
    BankAccount,
    BankTransaction,
    InvestAccount,
    InvestSecurity,
    InvestPosition,
    InvestTransaction,
    BillSubscription,
    BillDocument,
    EnergyReading,
    EnergyTariff,
    EnergyPrice,
    EnergyDayColour,
    HealthObservation,
    HealthWorkout,
    HealthClinical,
    TelecomCall,
    TelecomMessage,
    TelecomUsage,
)
BY_NAME: dict[str, type[Dataset]] = {d.dataset: d for d in ALL}


def schema_of(dataset: str) -> type[Dataset] | None:
    """The normalised schema of a dataset; None for a connector's own or an app's dataset."""
    return BY_NAME.get(dataset)


def validate(dataset: str, data: object) -> None:
    """Raise InvalidRecord naming the field when `data` does not fit `dataset`'s schema."""
    shape = BY_NAME.get(dataset)
    if shape is not None:
        shape.validate(data)
    elif not isinstance(data, dict):
        from .errors import InvalidRecord

        raise InvalidRecord(f"expected an object, got {type(data).__name__}")


def json_schema(dataset: str) -> dict[str, object]:
    shape = BY_NAME.get(dataset)
    if shape is None:
        return {"type": "object", "description": f"{dataset}: no normalised schema (connector or app data)"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"selfdata:dataset:{dataset}",
        "title": shape.title,
        **shape.json_schema(),
    }
