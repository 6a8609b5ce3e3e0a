"""Real OpenTelemetry SDK spans for the traces test: `frontend` calls `cart` five
times (a client span whose context is propagated with W3C trace context to a server
span in `cart`; the last call fails), and each call of `cart` queries its PostgreSQL
database (a client span nobody answers). Exported over OTLP/HTTP protobuf, gzip.

Usage: python otel_spans.py ENDPOINT TOKEN
"""

import sys

from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, token = sys.argv[1], sys.argv[2]


def provider(service):
    p = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
    )
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


frontend, cart = provider("frontend"), provider("cart")
front_tracer = frontend.get_tracer("shop.frontend")
cart_tracer = cart.get_tracer("shop.cart")

for i in range(5):
    with front_tracer.start_as_current_span("GET /cart", kind=SpanKind.CLIENT):
        # What an HTTP client and server do: the headers carry the context across.
        headers = {}
        propagate.inject(headers)
        remote = propagate.extract(headers)
        with cart_tracer.start_as_current_span("GET /cart", context=remote, kind=SpanKind.SERVER) as server:
            with cart_tracer.start_as_current_span(
                "SELECT carts",
                kind=SpanKind.CLIENT,
                attributes={"db.system": "postgresql", "db.name": "carts"},
            ):
                pass
            if i == 4:
                server.set_status(Status(StatusCode.ERROR, "out of stock"))

for p in (frontend, cart):
    if not p.force_flush():
        sys.exit("the spans were not exported")
    p.shutdown()
print("sent")
