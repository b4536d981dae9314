from datetime import date
from decimal import Decimal

from woob.browser import need_login
from woob.browser.exceptions import ClientError
from woob.browser.mfa import TwoFactorBrowser
from woob.capabilities.bank import Account, Transaction
from woob.capabilities.bill import Bill, Document, DocumentTypes, Subscription
from woob.exceptions import (
    ActionNeeded,
    AppValidation,
    AppValidationExpired,
    BrowserIncorrectPassword,
    BrowserQuestion,
    OTPSentType,
    SentOTPQuestion,
)
from woob.tools.value import Value


class FakebankBrowser(TwoFactorBrowser):
    """Logs in as woob's bank modules with a strong authentication do: a TwoFactorBrowser whose
    init_login sends an SMS code only when someone is there (check_interactive), handle_otp
    sends the code back, and the device the bank then trusts is kept in the browser's state."""

    HAS_CREDENTIALS_ONLY = True  # a trusted device logs in with the password alone
    __states__ = ("otp_transaction", "device_token")
    logged = False

    def __init__(self, config, url, *args, **kwargs):
        self.BASEURL = url
        super().__init__(config, config["login"].get(), config["password"].get(), *args, **kwargs)
        self.AUTHENTICATION_METHODS = {"otp": self.handle_otp, "resume": self.handle_polling}
        self.otp_transaction = None
        self.device_token = None

    def _post(self, path, body, bad_fields):
        try:
            return self.open(path, method="POST", json=body).json()
        except ClientError as err:
            if err.response.status_code == 401:
                message = err.response.json().get("message", "refused")
                raise BrowserIncorrectPassword(message, bad_fields=bad_fields) from err
            raise

    def init_login(self):
        body = {"login": self.username, "password": self.password, "device": self.device_token}
        answer = self._post("/login", body, ["password"])
        if answer.get("otp_required"):
            self.check_interactive()  # unattended: NeedInteractiveFor2FA, and no SMS sent
            sent = self._post("/login/otp/send", {"login": self.username}, [])
            self.otp_transaction = sent["transaction"]
            if answer.get("birthdate"):  # a bank that asks two values at once
                raise BrowserQuestion(
                    Value("otp", label=f"Code reçu par SMS au {sent['phone']}"),
                    Value("birthdate", label="Date de naissance (JJ/MM/AAAA)"),
                )
            raise SentOTPQuestion(
                "otp",
                medium_type=OTPSentType.SMS,
                medium_label=sent["phone"],
                message=f"Code reçu par SMS au {sent['phone']}",
            )
        if answer.get("app_validation"):
            self.check_interactive()
            self.otp_transaction = self._post("/login/app/start", {"login": self.username}, [])["transaction"]
            raise AppValidation("Validez la connexion dans l'application Fakebank")
        if answer.get("action"):
            raise ActionNeeded(answer["action"])
        self.logged = True

    def handle_polling(self):
        answer = self._post("/login/app/status", {"transaction": self.otp_transaction}, [])
        if answer["status"] != "validated":
            raise AppValidationExpired("La demande de validation a expiré")
        self.device_token = answer["device_token"]
        self.otp_transaction = None
        self.logged = True

    def handle_otp(self):
        body = {"transaction": self.otp_transaction, "code": self.otp}
        if self.config["birthdate"].get():
            body["birthdate"] = self.config["birthdate"].get()
        answer = self._post("/login/otp", body, ["otp"])
        self.device_token = answer["device_token"]
        self.otp_transaction = None
        self.logged = True

    @need_login
    def iter_accounts(self):
        for row in self.open("/accounts").json():
            acc = Account()
            acc.id = row["id"]
            acc.label = row["label"]
            acc.currency = row["currency"]
            acc.balance = Decimal(row["balance"])
            acc.iban = row.get("iban")
            acc.type = Account.TYPE_CHECKING if row["kind"] == "checking" else Account.TYPE_SAVINGS
            yield acc

    @need_login
    def iter_history(self, account):
        page = 1
        while page:
            answer = self.open(f"/accounts/{account.id}/history", params={"page": page}).json()
            for row in answer["operations"]:
                tr = Transaction()
                tr.date = date.fromisoformat(row["date"])
                tr.amount = Decimal(row["amount"])
                tr.raw = row["raw"]
                tr.label = row["label"]
                tr.coming = row["coming"]
                tr.type = Transaction.TYPE_CARD if row["raw"].startswith("CB ") else Transaction.TYPE_TRANSFER
                yield tr
            page = answer.get("next")

    @need_login
    def iter_subscription(self):
        for row in self.open("/subscriptions").json():
            sub = Subscription()
            sub.id = row["id"]
            sub.label = row["label"]
            sub.subscriber = row["subscriber"]
            yield sub

    @need_login
    def iter_documents(self, subscription):
        for row in self.open(f"/subscriptions/{subscription.id}/documents").json():
            doc = Bill() if row["type"] == "bill" else Document()
            doc.id = row["id"]
            doc.date = date.fromisoformat(row["date"])
            doc.label = row["label"]
            doc.type = DocumentTypes.BILL if row["type"] == "bill" else DocumentTypes.NOTICE
            doc.format = "pdf"
            doc.has_file = bool(row.get("url"))
            if row.get("url"):
                doc.url = self.absurl(row["url"])
            if row["type"] == "bill":
                doc.total_price = Decimal(row["amount"])
                doc.currency = doc.get_currency(row["currency"])
                doc.duedate = date.fromisoformat(row["due"])
            yield doc

    @need_login
    def download_document(self, document):
        return self.open(document.url).content
