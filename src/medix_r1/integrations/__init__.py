"""Adapters from the reward core to training engines: TRL, verl, EasyR1."""
