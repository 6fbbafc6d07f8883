"""Route templates for the ``route`` label.

Resolution happens after the application returned, when the routers below
the filter have left their match in the WSGI environ.
"""

from oslo_metrics_middleware.routing.labels import OVERFLOW
from oslo_metrics_middleware.routing.labels import UNMATCHED
from oslo_metrics_middleware.routing.labels import LabelCap
from oslo_metrics_middleware.routing.resolver import RouteResolver

__all__ = ["OVERFLOW", "UNMATCHED", "LabelCap", "RouteResolver"]
