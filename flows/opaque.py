"""A batch handed to a task as it is: typed as the value the task receives."""

from __future__ import annotations

from typing import Any, TypeVar, cast, overload

from prefect.futures import PrefectFuture
from prefect.utilities.annotations import opaque

T = TypeVar("T")


@overload
def as_is(value: PrefectFuture[T]) -> T: ...
@overload
def as_is(value: T) -> T: ...
def as_is(value: Any) -> Any:
    """`opaque(value)`: Prefect resolves a future but does not walk into the hundreds of
    documents of a batch; the task receives the value (a future's result) itself, which
    is what the type says (Prefect types the wrapper as the annotation class)."""
    return cast(Any, opaque(value))
