"""Everything that talks to Binance: its wire format, the reader thread that owns a stream socket,
the pacing of live requests, and the REST client that fetches exchangeInfo, time and gap trades.
"""
