"""The peer for bench_api.py: the endpoint a user would otherwise write -- a FastAPI route
that reads the newest ``trade_analysis`` row of a pair with SQLAlchemy on each request --
served by uvicorn exactly as ``montalaq serve`` serves montalaq (one worker, uvloop and
httptools when installed, access log off).

Usage: ``python benchmarks/_api_peer.py DB_PATH``; prints ``peer: http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, HTTPException


def build(db_path: str) -> FastAPI:
    engine = sa.create_engine(f"sqlite:///{db_path}")
    table = sa.Table("trade_analysis", sa.MetaData(), autoload_with=engine)
    app = FastAPI()

    @app.get("/api/analysis/latest")
    def latest(pair: str, tf: str) -> dict[str, Any]:
        query = (
            sa.select(table)
            .where(table.c.symbol == pair, table.c.timeframe == tf)
            .order_by(table.c.bar_ts.desc())
            .limit(1)
        )
        with engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise HTTPException(404, "no analysis")
        return dict(row)

    return app


def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build(sys.argv[1]), log_level="warning", access_log=False)
    print(f"peer: http://127.0.0.1:{port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
