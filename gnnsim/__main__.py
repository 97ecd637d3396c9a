import sys

from gnnsim.cli import main

sys.exit(main())
