"""A small commerce backend (customers, orders, payments, refund ledger) the executors act on."""

from django.db import models


class Customer(models.Model):
    external_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    email = models.EmailField()
    tier = models.CharField(max_length=16, default="standard")
    # Contact and notification preferences, e.g. {"marketing_emails": false, "language": "en"}.
    # Kept on the customer row so an update locks one row and never races to create another.
    preferences = models.JSONField(default=dict, blank=True)

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
    # Set when the refund is reversed (its action rolled back): the amount counts as refundable
    # again. The row stays, so the ledger shows both the refund and its reversal.
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_gt_0")
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} for action {self.action_id}"


class AppliedAction(models.Model):
    """Effects other than refunds, discounts and tickets (cancel, address change, preferences,
    credentials reset), one per action id, with what they replaced (`data.before`) so a
    compensation can put it back."""

    action_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, related_name="+")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the effect was undone; a second compensation finds it and changes nothing.
    compensated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} for action {self.action_id}"


class Discount(models.Model):
    """A discount granted on an order, keyed by the Countersign action id; removed, not deleted."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="discounts")
    action_id = models.UUIDField(unique=True)
    code = models.CharField(max_length=40, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="discount_amount_gt_0")
        ]

    def __str__(self) -> str:
        return f"discount {self.amount} {self.currency} for action {self.action_id}"


class Ticket(models.Model):
    """A support ticket opened for a customer, keyed by the Countersign action id."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    action_id = models.UUIDField(unique=True)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"ticket {self.pk} for action {self.action_id}"
