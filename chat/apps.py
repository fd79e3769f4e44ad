from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import hooks
        from chat.tools import builtin, knowledge, web_search

        hooks.install()
        builtin.register()
        web_search.register()
        knowledge.register()
