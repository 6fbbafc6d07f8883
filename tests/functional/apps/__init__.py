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

"""WSGI entry points and server scripts the functional tests launch.

The servers are configured by environment (see ``paste_app``); the names
live here so the tests can use them without building an application.
"""

SOCKET_ENV = "METRICS_TEST_SOCKET"
FLUSH_INTERVAL_ENV = "METRICS_TEST_FLUSH_INTERVAL"
BUFFER_SIZE_ENV = "METRICS_TEST_BUFFER_SIZE"
EXIT_GRACE_ENV = "METRICS_TEST_EXIT_GRACE"
BATCH_FORMAT_ENV = "METRICS_TEST_BATCH_FORMAT"
PID_HEADER = "X-Worker-Pid"
