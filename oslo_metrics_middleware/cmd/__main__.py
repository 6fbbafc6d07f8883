import sys

from oslo_metrics_middleware.cmd import main

sys.exit(main())
