"""Where the project's declarations live: models/, metrics/ and docs/runbooks/ sit at the top of the checkout (the
layout people read), and a wheel ships a copy of them inside the package (`pipelines/_shipped/`), so that
`pip install .` works from any folder. A checkout's own folders win: an editable install reads what you edit."""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
SHIPPED = Path(__file__).resolve().parent / "_shipped"


def project_dir(*parts: str) -> Path:
    """`models`, `metrics` or `docs/runbooks`, from the checkout when this is one, else from the package."""
    checkout = CHECKOUT.joinpath(*parts)
    return checkout if checkout.is_dir() else SHIPPED.joinpath(*parts)
