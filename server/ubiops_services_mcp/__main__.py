"""`python -m ubiops_services_mcp`: the same as the console script."""

import sys

from ubiops_services_mcp.cli import main  # absolute: bundle hosts may run this file as a script

sys.exit(main())
