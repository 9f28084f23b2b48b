import factory
from django.contrib.auth import get_user_model

from workflows.models import Membership, Role, Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-123456")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


def definition_body(definition_id: str = "hello", **overrides) -> dict:
    """A small valid definition document."""
    body = {
        "definition_id": definition_id,
        "name": definition_id.replace("-", " ").title(),
        "description": "says hello",
        "inputs": [{"name": "who", "type": "string", "default": "world"}],
        "outputs": [{"name": "greeting", "type": "string"}],
        "root": {
            "type": "Sequence",
            "id": "main",
            "activities": [
                {"id": "greet", "type": "SetOutput", "output": "greeting",
                 "value": {"template": "Hello {{ input.who }}"}},
                {"id": "log", "type": "WriteLine", "text": {"expr": "result"}},
            ],
        },
    }
    body.update(overrides)
    return body
