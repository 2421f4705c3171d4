from __future__ import annotations

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from banking.serializers import represent

class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.CharField()


@extend_schema(
    operation_id="healthz", summary="Liveness and database reachability (no auth)", tags=["operations"],
    auth=[], responses={200: HealthSerializer, 503: HealthSerializer},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def healthz(request: Request) -> Response:
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return Response(represent(HealthSerializer, {"status": "unavailable", "database": "unreachable"}), status=503)
    return Response(represent(HealthSerializer, {"status": "ok", "database": "ok"}))
