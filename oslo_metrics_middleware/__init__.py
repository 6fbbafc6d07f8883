"""Per-request API metrics for OpenStack services, delivered to oslo.metrics."""

from oslo_metrics_middleware.middleware import MetricsMiddleware

__all__ = ["MetricsMiddleware"]
