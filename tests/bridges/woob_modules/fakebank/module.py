"""A woob module for the tests' fake bank website, written as woob's own modules are."""

from woob.capabilities.bank import CapBank
from woob.capabilities.bill import CapDocument
from woob.tools.backend import BackendConfig, Module
from woob.tools.value import Value, ValueBackendPassword, ValueTransient

from .browser import FakebankBrowser


class FakebankModule(Module, CapBank, CapDocument):
    NAME = "fakebank"
    DESCRIPTION = "Fake bank for selfdata's tests"
    MAINTAINER = "selfdata"
    EMAIL = "tests@selfdata.invalid"
    LICENSE = "LGPLv3+"
    CONFIG = BackendConfig(
        Value("url", label="Website"),
        Value("login", label="Customer number"),
        ValueBackendPassword("password", label="Password"),
        ValueTransient("otp", regexp=r"^\d{6}$"),
        ValueTransient("resume"),
        ValueTransient("birthdate"),
        ValueTransient("request_information"),
    )
    BROWSER = FakebankBrowser

    def create_default_browser(self):
        return self.create_browser(self.config, self.config["url"].get())

    def iter_accounts(self):
        return self.browser.iter_accounts()

    def iter_history(self, account):
        return self.browser.iter_history(account)

    def iter_subscription(self):
        return self.browser.iter_subscription()

    def iter_documents(self, subscription):
        return self.browser.iter_documents(subscription)

    def download_document(self, document):
        return self.browser.download_document(document)
