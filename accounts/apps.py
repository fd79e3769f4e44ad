from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Accounts and groups"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts import user_cache
        from accounts.models import User
        from accounts.services import connections

        def forget(sender: type, instance: User, **kwargs: object) -> None:
            user_cache.forget(instance.pk)

        def end_connections(sender: type, instance: User, created: bool = False, **kwargs: object) -> None:
            if not instance.is_active and not created:
                connections.end_connections(instance.pk)

        post_save.connect(forget, sender=User, dispatch_uid="accounts.user_cache.save", weak=False)
        post_save.connect(end_connections, sender=User, dispatch_uid="accounts.end_connections", weak=False)
        post_delete.connect(forget, sender=User, dispatch_uid="accounts.user_cache.delete", weak=False)
