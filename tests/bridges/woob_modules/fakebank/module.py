"""A woob module for the tests' fake bank website, written as woob's own modules are."""

from woob.capabilities.bank import CapBank
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword

from .browser import FakebankBrowser


class FakebankModule(Module, CapBank):
    NAME = "fakebank"
    DESCRIPTION = "Fake bank for selfdata's tests"
    MAINTAINER = "selfdata"
    EMAIL = "tests@selfdata.invalid"
    LICENSE = "LGPLv3+"
    CONFIG = BackendConfig(
        Value("url", label="Website"),
        Value("login", label="Customer number"),
        ValueBackendPassword("password", label="Password"),
    )
    BROWSER = FakebankBrowser

    def create_default_browser(self):
        return self.create_browser(self.config["url"].get(), self.config["login"].get(), self.config["password"].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)
