# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Route templates for the ``route`` label.

Resolution happens after the application returned, when the routers below
the filter have left their match in the WSGI environ.
"""

from oslo_metrics_middleware.routing.labels import OVERFLOW
from oslo_metrics_middleware.routing.labels import UNMATCHED
from oslo_metrics_middleware.routing.labels import LabelCap
from oslo_metrics_middleware.routing.resolver import ENTRY_POINT_GROUP
from oslo_metrics_middleware.routing.resolver import RouteResolver
from oslo_metrics_middleware.routing.table import TemplateTable
from oslo_metrics_middleware.routing.table import read_table

__all__ = [
    "ENTRY_POINT_GROUP",
    "OVERFLOW",
    "UNMATCHED",
    "LabelCap",
    "RouteResolver",
    "TemplateTable",
    "read_table",
]
