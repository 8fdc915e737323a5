"""`python -m training emotion head`: see training/emotion/v5.py."""
from training.emotion.v5 import head_main as main

if __name__ == "__main__":
    raise SystemExit(main())
