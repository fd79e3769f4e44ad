"""``/api/retrievers``: Retriever kinds by name, their storage types' retrieval methods, and a
connection test (reference extras §1.3). Thin views over ``knowledge.services.retrievers``."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.api.serializers import Text
from knowledge.services import retrievers
from wegent.api.validation import validate_body, validate_query

TAGS = ["retrievers"]


class ListQuery(serializers.Serializer):
    scope = serializers.ChoiceField(["personal", "group", "all"], default="personal")
    group_name = Text(max_length=100, required=False)


class NamespaceQuery(serializers.Serializer):
    namespace = Text(max_length=100, default="default")


class TestBody(serializers.Serializer):
    storage_type = Text(max_length=50, required=False, allow_blank=True, default="")
    url = Text(max_length=2000, required=False, allow_blank=True, default="")
    username = Text(max_length=200, required=False, allow_null=True)
    password = Text(max_length=500, required=False, allow_null=True)
    api_key = Text(max_length=500, required=False, allow_null=True)


class ResultOut(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class MethodsOut(serializers.Serializer):
    data = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    storage_types = serializers.ListField(child=serializers.CharField())


class TypeMethodsOut(serializers.Serializer):
    storage_type = serializers.CharField()
    retrieval_methods = serializers.ListField(child=serializers.CharField())


class ItemOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    displayName = serializers.CharField()
    storageType = serializers.CharField(allow_null=True)
    namespace = serializers.CharField()


class ListOut(serializers.Serializer):
    data = ItemOut(many=True)


class MessageOut(serializers.Serializer):
    message = serializers.CharField()


class AllMethodsView(APIView):
    @extend_schema(responses=MethodsOut, tags=TAGS, operation_id="retrievers_retrieval_methods")
    def get(self, request: Request) -> Response:
        return Response({"data": retrievers.METHODS, "storage_types": list(retrievers.METHODS)})


class TypeMethodsView(APIView):
    @extend_schema(responses=TypeMethodsOut, tags=TAGS, operation_id="retrievers_type_retrieval_methods")
    def get(self, request: Request, storage_type: str) -> Response:
        methods = retrievers.retrieval_methods(storage_type)
        return Response({"storage_type": storage_type, "retrieval_methods": methods})


class RetrieverListView(APIView):
    @extend_schema(parameters=[ListQuery], responses=ListOut, tags=TAGS, operation_id="retrievers_list")
    def get(self, request: Request) -> Response:
        query = validate_query(ListQuery, request)
        return Response(
            {"data": retrievers.list_retrievers(request.user, query["scope"], query.get("group_name"))}
        )

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
        operation_id="retrievers_create",
    )
    def post(self, request: Request) -> Response:
        return Response(retrievers.create(request.user, request.data))


class RetrieverView(APIView):
    @extend_schema(
        parameters=[NamespaceQuery], responses=OpenApiTypes.OBJECT, tags=TAGS, operation_id="retrievers_get"
    )
    def get(self, request: Request, name: str) -> Response:
        namespace = validate_query(NamespaceQuery, request)["namespace"]
        return Response(retrievers.get(request.user, name, namespace))

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
        operation_id="retrievers_update",
    )
    def put(self, request: Request, name: str) -> Response:
        return Response(retrievers.update(request.user, name, request.data))

    @extend_schema(
        parameters=[NamespaceQuery], responses=MessageOut, tags=TAGS, operation_id="retrievers_delete"
    )
    def delete(self, request: Request, name: str) -> Response:
        namespace = validate_query(NamespaceQuery, request)["namespace"]
        retrievers.delete(request.user, name, namespace)
        return Response({"message": "Retriever deleted successfully"})


class TestConnectionView(APIView):
    @extend_schema(
        request=TestBody, responses=ResultOut, tags=TAGS, operation_id="retrievers_test_connection"
    )
    def post(self, request: Request) -> Response:
        data = validate_body(TestBody, request)
        if not data["storage_type"] or not data["url"]:
            return Response({"success": False, "message": "Missing required fields: storage_type, url"})
        result = retrievers.test_connection(
            data["storage_type"], data["url"], data.get("username"), data.get("password"), data.get("api_key")
        )
        return Response(result)


urlpatterns = [
    path("retrievers/storage-types/retrieval-methods", AllMethodsView.as_view(), name="retriever-methods"),
    path(
        "retrievers/storage-types/<str:storage_type>/retrieval-methods",
        TypeMethodsView.as_view(),
        name="retriever-type-methods",
    ),
    path("retrievers/test-connection", TestConnectionView.as_view(), name="retriever-test-connection"),
    path("retrievers", RetrieverListView.as_view(), name="retrievers"),
    path("retrievers/<str:name>", RetrieverView.as_view(), name="retriever"),
]
