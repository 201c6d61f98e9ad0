"""Run by ``test_engine.py`` under ``torchrun``: train the test bitext with the config given as JSON."""

import json
import sys

from optical.config import config_from_dict
from optical.train import train
from test_train import bitext

if __name__ == "__main__":
    train(config_from_dict(json.loads(sys.argv[1])), bitext(), sys.argv[2])
