"""Users of an external identity provider (OpenID Connect): provisioned on first sight, their
memberships kept equal to what the provider's token says."""

from django.contrib.auth import get_user_model
from django.db import transaction

from workflows.models import Membership, Role, Tenant


def roles_from_claim(entries, role_map: dict | None) -> dict[str, str]:
    """{tenant slug: role} from a claim's values. Without a map each value reads
    "tenant:role"; with a map, each value is looked up there (unmapped values are ignored) and
    maps to one "tenant:role" or a list of them. A tenant named twice gets the higher role."""
    if isinstance(entries, str):
        entries = entries.replace(",", " ").split()
    if not isinstance(entries, list):
        return {}
    pairs: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        if role_map is None:
            pairs.append(entry)
        else:
            mapped = role_map.get(entry)
            pairs += [mapped] if isinstance(mapped, str) else [
                m for m in (mapped or []) if isinstance(m, str)]
    roles: dict[str, str] = {}
    for pair in pairs:
        tenant, _, role = pair.strip().rpartition(":")
        if not tenant or role not in Role.values:
            continue
        if tenant not in roles or Role.rank(role) > Role.rank(roles[tenant]):
            roles[tenant] = role
    return roles


@transaction.atomic
def external_user_sync(*, username: str, email: str, roles: dict[str, str]):
    """The local user for an identity-provider subject, created when new (with no usable
    password: it signs in through the provider only), with exactly the memberships `roles`
    names among existing tenants. Writes only what changed."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username,
                                                     defaults={"email": email[:254]})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif email and user.email != email[:254]:
        user.email = email[:254]
        user.save(update_fields=["email"])
    current = {m.tenant.slug: m for m in Membership.objects.select_related("tenant")
               .filter(user=user)}
    if {slug: m.role for slug, m in current.items()} == roles:
        return user
    tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=list(roles))}
    for slug, membership in current.items():
        if slug not in tenants:
            membership.delete()
        elif membership.role != roles[slug]:
            membership.role = roles[slug]
            membership.save(update_fields=["role"])
    for slug, tenant in tenants.items():
        if slug not in current:
            # get_or_create: two first requests of the same user may race here.
            Membership.objects.update_or_create(tenant=tenant, user=user,
                                                defaults={"role": roles[slug]})
    return user
