"""The REST ceiling: a bare Falcon resource answering a constant candle-sized body on the
daemon's own waitress settings and logging, with nothing of candlecast in the request path,
so ``bench.rest`` shows how much of a request is waitress and Falcon and how much is ours.

    python -m bench.bare_rest --port 8000
"""

from __future__ import annotations

import argparse
import signal

import falcon

from candlecast.actors.http_server import rest_server
from candlecast.runtime.logs import configure_logging
from candlecast.settings import Settings

# The README's example answer to GET /ohlc/BTCUSDT.
CANDLE = (
    b'{"symbol":"BTCUSDT","open_time":1795836601000,"close_time":1795836601999,"open":43012.15,'
    b'"high":43013.02,"low":43011.90,"close":43012.88,"volume":0.41230000,"quote_volume":17733.9528713,'
    b'"trades":9,"taker_buy_volume":0.20010000,"taker_buy_quote_volume":8606.78131,"first_trade_id":3900012,'
    b'"last_trade_id":3900020,"revision":0,"complete":true,"timestamp":"2026-11-28T03:30:01.000Z"}'
)


class ConstantCandle:
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = CANDLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    configure_logging("json", "info")
    app = falcon.App()
    app.add_route("/ohlc/{symbol}", ConstantCandle())
    # Blocked before the server's threads start, so they inherit the mask and only sigwait sees them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    defaults = Settings()
    server = rest_server(
        app,
        host=args.host,
        port=args.port,
        max_body_bytes=defaults.max_body_bytes,
        max_connections_per_address=defaults.rest_max_connections_per_ip,
    )
    server.start()
    signal.sigwait(stop_signals)
    server.stop()


if __name__ == "__main__":
    main()
