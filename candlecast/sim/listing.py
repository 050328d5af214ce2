"""The simulated exchange's symbol listing and its ``/api/v3/exchangeInfo`` document.

Tick and step sizes are Binance's own, so quantization matches what the client meets; LUNAUSDT
is listed in BREAK, known but never trading. Synthetic symbols, named so they never clash with
a real one, extend the listing for runs with hundreds of streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

TRADING = "TRADING"
BREAK = "BREAK"
EIGHT_DECIMALS = Decimal("0.00000001")

RATE_LIMITS = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
)


class SymbolSpec(msgspec.Struct, frozen=True):
    """One listed symbol; ``start_price`` is where the simulated random walk begins."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    start_price: Decimal
    status: str = TRADING


def _spec(  # noqa: PLR0917 (a row of the listing table below)
    symbol: str, base: str, tick: str, step: str, price: str, status: str = TRADING
) -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_asset=base,
        quote_asset=symbol[len(base) :],
        tick_size=Decimal(tick).quantize(EIGHT_DECIMALS),
        step_size=Decimal(step).quantize(EIGHT_DECIMALS),
        start_price=Decimal(price),
        status=status,
    )


LISTING: tuple[SymbolSpec, ...] = (
    _spec("BTCUSDT", "BTC", "0.01", "0.00001", "43000"),
    _spec("ETHUSDT", "ETH", "0.01", "0.0001", "2300"),
    _spec("BNBUSDT", "BNB", "0.1", "0.001", "310"),
    _spec("SOLUSDT", "SOL", "0.01", "0.01", "98"),
    _spec("XRPUSDT", "XRP", "0.0001", "1", "0.62"),
    _spec("ADAUSDT", "ADA", "0.001", "0.1", "0.55"),
    _spec("DOGEUSDT", "DOGE", "0.0001", "1", "0.085"),
    _spec("LTCUSDT", "LTC", "0.1", "0.001", "72"),
    _spec("DOTUSDT", "DOT", "0.01", "0.01", "7.4"),
    _spec("AVAXUSDT", "AVAX", "0.01", "0.01", "36"),
    _spec("LINKUSDT", "LINK", "0.01", "0.01", "15"),
    _spec("MATICUSDT", "MATIC", "0.001", "0.1", "0.85"),
    _spec("TRXUSDT", "TRX", "0.00001", "0.1", "0.105"),
    _spec("ATOMUSDT", "ATOM", "0.01", "0.01", "9.8"),
    _spec("SHIBUSDT", "SHIB", "0.00000001", "1", "0.00000950"),
    _spec("ETHBTC", "ETH", "0.000001", "0.0001", "0.0535"),
    _spec("BNBBTC", "BNB", "0.000001", "0.001", "0.0072"),
    _spec("LTCBTC", "LTC", "0.000001", "0.001", "0.00168"),
    _spec("XRPBTC", "XRP", "0.00000001", "1", "0.00001440"),
    _spec("XRPETH", "XRP", "0.0000001", "1", "0.0002700"),
    _spec("LUNAUSDT", "LUNA", "0.01", "0.01", "0.6", status=BREAK),
)


def synthetic_listing(count: int) -> tuple[SymbolSpec, ...]:
    """``count`` extra TRADING symbols, ``SYN0001USDT`` onwards, priced like a mid-cap coin."""
    return tuple(_spec(f"SYN{n:04d}USDT", f"SYN{n:04d}", "0.001", "0.01", "25") for n in range(1, count + 1))


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """One ``symbols[]`` entry, in the order and with the fields Binance's spot API uses."""
    return {
        "symbol": spec.symbol,
        "status": spec.status,
        "baseAsset": spec.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": str(spec.tick_size),
                "maxPrice": "1000000.00000000",
                "tickSize": str(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": str(spec.step_size),
                "maxQty": "9000000.00000000",
                "stepSize": str(spec.step_size),
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(specs: Iterable[SymbolSpec], server_time: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": list(RATE_LIMITS),
        "exchangeFilters": [],
        "symbols": [symbol_info(spec) for spec in specs],
    }
