"""The package's version, apart from the package root so that its modules can import it."""

__version__ = "0.1.0"
