"""Per-request API metrics for OpenStack services, delivered to oslo.metrics."""

from oslo_metrics_middleware.middleware import MetricsMiddleware
from oslo_metrics_middleware.transport import flush

__all__ = ["MetricsMiddleware", "flush"]
