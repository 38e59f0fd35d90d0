"""Options for stock tips (seed 002 phase 4): Black-Scholes Greeks, the chain model and its selection rule, a
synthetic chain for offline use and the chain from Alpaca's options data."""
