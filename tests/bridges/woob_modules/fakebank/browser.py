from datetime import date
from decimal import Decimal

from woob.browser import LoginBrowser, need_login
from woob.browser.exceptions import ClientError
from woob.capabilities.bank import Account, Transaction
from woob.exceptions import ActionNeeded, BrowserIncorrectPassword, NeedInteractiveFor2FA


class FakebankBrowser(LoginBrowser):
    def __init__(self, url, *args, **kwargs):
        self.BASEURL = url
        super().__init__(*args, **kwargs)

    def do_login(self):
        try:
            answer = self.open("/login", method="POST", json={"login": self.username, "password": self.password}).json()
        except ClientError as err:
            if err.response.status_code == 401:
                raise BrowserIncorrectPassword(err.response.json().get("message", "wrong password")) from err
            raise
        if answer.get("otp_required"):
            raise NeedInteractiveFor2FA()
        if answer.get("action"):
            raise ActionNeeded(answer["action"])

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
