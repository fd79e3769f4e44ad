"""``/api/market``: market subscriptions to browse and rent (reference extras §2.3)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from subscriptions import selectors, shapes
from subscriptions.api.serializers import (
    NAME_PATTERN,
    RefSerializer,
    SubscriptionListOut,
    SubscriptionOut,
    Text,
)
from subscriptions.models import TRIGGER_TYPES
from subscriptions.services import market
from wegent.api.pagination import envelope
from wegent.api.validation import validate_body, validate_query

TAGS = ["market"]
NOT_FOUND = OpenApiResponse(description='"Subscription not found"')


class MarketQuery(serializers.Serializer):
    sort_by = serializers.ChoiceField(choices=["rental_count", "recent"], default="rental_count")
    search = serializers.CharField(required=False, max_length=100, allow_blank=True)
    skip = serializers.IntegerField(min_value=0, max_value=1_000_000, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class RentBody(serializers.Serializer):
    name = serializers.RegexField(NAME_PATTERN, max_length=100)
    display_name = Text(max_length=200)
    trigger_type = serializers.ChoiceField(choices=list(TRIGGER_TYPES))
    trigger_config = serializers.DictField(required=False)
    model_ref = RefSerializer(required=False, allow_null=True)


class MarketOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    trigger_type = serializers.CharField()
    trigger_description = serializers.CharField()
    owner_user_id = serializers.IntegerField()
    owner_username = serializers.CharField()
    rental_count = serializers.IntegerField()
    is_rented = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MarketListOut(serializers.Serializer):
    total = serializers.IntegerField()
    items = MarketOut(many=True)


class RentalCountOut(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    rental_count = serializers.IntegerField()


class MarketListView(APIView):
    @extend_schema(
        tags=TAGS, parameters=[MarketQuery], responses=MarketListOut, operation_id="market_subscriptions_list"
    )
    def get(self, request: Request) -> Response:
        query = validate_query(MarketQuery, request)
        rows = market.listed(sort_by=query["sort_by"], search=query.get("search"))
        page = list(rows[query["skip"] : query["skip"] + query["limit"]])
        rented = market.rented_ids(request.user, [row.pk for row in page])
        return Response(envelope([shapes.market(row, rented=row.pk in rented) for row in page], rows.count()))


class MarketItemView(APIView):
    @extend_schema(tags=TAGS, responses={200: MarketOut, 404: NOT_FOUND})
    def get(self, request: Request, subscription_id: int) -> Response:
        row = market.market_row(subscription_id)
        return Response(shapes.market(row, rented=bool(market.rented_ids(request.user, [row.pk]))))


class RentView(APIView):
    @extend_schema(tags=TAGS, request=RentBody, responses={201: SubscriptionOut, 404: NOT_FOUND})
    def post(self, request: Request, subscription_id: int) -> Response:
        data = validate_body(RentBody, request)
        row = market.rent(actor=request.user, subscription_id=subscription_id, data=data)
        return Response(shapes.subscription(selectors.owned_subscription(request.user, row.pk)), status=201)


class RentalCountView(APIView):
    @extend_schema(tags=TAGS, responses={200: RentalCountOut, 404: NOT_FOUND})
    def get(self, request: Request, subscription_id: int) -> Response:
        row = market.market_row(subscription_id)
        return Response({"subscription_id": row.pk, "rental_count": row.rental_count})


class MyRentalsView(APIView):
    @extend_schema(tags=TAGS, responses=SubscriptionListOut)
    def get(self, request: Request) -> Response:
        rows = list(selectors.with_followers(market.rentals(request.user)))
        return Response(envelope([shapes.subscription(row) for row in rows], len(rows)))


urlpatterns = [
    path("market/subscriptions", MarketListView.as_view(), name="market-subscriptions"),
    path("market/subscriptions/<int:subscription_id>", MarketItemView.as_view(), name="market-subscription"),
    path("market/subscriptions/<int:subscription_id>/rent", RentView.as_view(), name="market-rent"),
    path(
        "market/subscriptions/<int:subscription_id>/rental-count",
        RentalCountView.as_view(),
        name="market-rental-count",
    ),
    path("market/users/me/rentals", MyRentalsView.as_view(), name="market-my-rentals"),
]
