"""Example user activities: plain functions registered with `@activity`."""

from runtime import NonRetryableError, activity


@activity("examples.greet", description="Builds a greeting for a name.")
def greet(*, name: str, punctuation: str = "!") -> dict:
    return {"greeting": f"Hello, {name}{punctuation}"}


@activity("examples.add", description="Adds two numbers.")
def add(*, a: float, b: float) -> float:
    return a + b


@activity("examples.charge", retry={"max_attempts": 3}, timeout=30,
          description="Pretends to charge an order; refuses non-positive amounts.")
def charge(*, order_id: str, amount: float, context) -> dict:
    if amount <= 0:
        raise NonRetryableError(f"cannot charge {amount}")
    # A real implementation passes context.idempotency_key to the payment provider, so that a
    # retried or redelivered step never charges twice.
    return {"order_id": order_id, "charged": amount, "idempotency_key": context.idempotency_key}
