"""Brokers behind one protocol (base.Broker): paper (default), Alpaca, ccxt. Import the live ones lazily:
alpaca-py and ccxt are heavy and only needed when configured."""
