"""Output serializers of the sandbox API: plain shapes, no logic."""

from rest_framework import serializers


class CustomerOutput(serializers.Serializer):
    customer_id = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()


class PaymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Minor units")
    currency = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class RefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action_id = serializers.UUIDField(help_text="The Countersign action that issued it")
    amount = serializers.IntegerField(help_text="Minor units")
    currency = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    reversed_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was reversed (its action rolled back), if it was"
    )


class DiscountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action_id = serializers.UUIDField()
    code = serializers.CharField(allow_blank=True)
    amount = serializers.IntegerField(help_text="Minor units")
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    removed_at = serializers.DateTimeField(allow_null=True)


class OrderTotalsOutput(serializers.Serializer):
    paid = serializers.IntegerField()
    refunded = serializers.IntegerField(help_text="Refunds not reversed")
    reversed = serializers.IntegerField(help_text="Refunds reversed by rollbacks")
    refundable = serializers.IntegerField(help_text="paid - refunded")
    discounted = serializers.IntegerField(help_text="Discounts not removed")


class OrderOutput(serializers.Serializer):
    order_id = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total_amount = serializers.IntegerField(help_text="Minor units")
    shipping_address = serializers.JSONField()
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    customer = CustomerOutput()
    payments = PaymentOutput(many=True)
    refunds = RefundOutput(many=True)
    discounts = DiscountOutput(many=True)
    totals = OrderTotalsOutput()
