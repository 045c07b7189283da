import sys

from buddy.cli import main

sys.exit(main())
