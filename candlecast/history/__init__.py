"""Every closed candle on disk: the store engines, interval roll-ups and the Binance kline shape."""
