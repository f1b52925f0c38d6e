"""A small commerce backend (customers, orders, payments, refund ledger) the executors act on."""

from django.db import models


class Customer(models.Model):
    external_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    email = models.EmailField()
    tier = models.CharField(max_length=16, default="standard")

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.external_id


class Order(models.Model):
    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        PAYMENT_FAILED = "payment_failed", "Payment failed"

    order_id = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    currency = models.CharField(max_length=3)
    total_amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID)
    shipping_address = models.JSONField(default=dict)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=0), name="order_total_gte_0"
            )
        ]

    def __str__(self) -> str:
        return self.order_id


class Payment(models.Model):
    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_gt_0")
        ]

    def __str__(self) -> str:
        return f"payment {self.amount} {self.currency} for order {self.order_id}"


class Refund(models.Model):
    """The refund ledger: one row per executed refund, keyed by the Countersign action id."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    # The action id is the idempotency key: a redelivered execution finds its row and stops.
    action_id = models.UUIDField(unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_gt_0")
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} for action {self.action_id}"


class AppliedAction(models.Model):
    """Effects other than refunds (cancel, address change, credentials reset), one per action id."""

    action_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, related_name="+")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} for action {self.action_id}"
