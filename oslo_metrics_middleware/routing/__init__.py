"""Route templates for the ``route`` label.

Resolution happens after the application returned, when the routers below
the filter have left their match in the WSGI environ.
"""

from oslo_metrics_middleware.routing.labels import OVERFLOW
from oslo_metrics_middleware.routing.labels import UNMATCHED
from oslo_metrics_middleware.routing.labels import LabelCap
from oslo_metrics_middleware.routing.resolver import ENTRY_POINT_GROUP
from oslo_metrics_middleware.routing.resolver import REQUEST_PATH
from oslo_metrics_middleware.routing.resolver import RouteResolver
from oslo_metrics_middleware.routing.table import TemplateTable
from oslo_metrics_middleware.routing.table import read_table

__all__ = [
    "ENTRY_POINT_GROUP",
    "OVERFLOW",
    "REQUEST_PATH",
    "UNMATCHED",
    "LabelCap",
    "RouteResolver",
    "TemplateTable",
    "read_table",
]
