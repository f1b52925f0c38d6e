"""The bare two-row insert: the body and its Idempotency-Key in one row, an event in another."""

import json

from django.db import connection, transaction
from rest_framework.response import Response
from rest_framework.views import APIView


class SubmitView(APIView):
    def post(self, request):
        body = json.dumps(request.data)
        key = request.headers.get("Idempotency-Key", "")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO baseline_action (idempotency_key, body) VALUES (%s, %s) RETURNING id",
                [key, body],
            )
            (action_id,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO baseline_event (action_id, kind, payload) VALUES (%s, %s, %s)",
                [action_id, "submitted", body],
            )
        return Response({"id": action_id, "status": "pending"}, status=201)
