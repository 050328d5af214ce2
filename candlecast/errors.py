"""Domain errors raised by actors for an asker; the HTTP layer maps each to a status once."""


class CandlecastError(Exception):
    """Base: ``str(error)`` is the detail shown to the client."""


class InvalidSymbol(CandlecastError):
    """Not a symbol the exchange lists as TRADING (400)."""


class AlreadySubscribed(CandlecastError):
    """409."""


class TooManySymbols(CandlecastError):
    """409: as many symbols are subscribed as ``--max-symbols`` allows."""


class NotSubscribed(CandlecastError):
    """404."""


class NoDataYet(CandlecastError):
    """404: subscribed, but nothing has closed yet."""


class ExchangeInfoUnavailable(CandlecastError):
    """503: symbols cannot be validated until exchangeInfo has loaded."""
