from .module import FakebankModule

__all__ = ["FakebankModule"]
