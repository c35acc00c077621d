"""The admin is one more door into the rules: a staff account may do here what its team role lets it do in the
pages, and nothing more.

A permission in the admin is Django's model permission AND the team role the pages need (viewer to see, editor to
change datasets, examples and prompts, approver for memberships and reviews). Querysets, the choices of a form,
list filters and the autocomplete show only the user's teams and their members. Any other admin is for
superusers only (see `admin_site`).
"""

from functools import reduce

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from ..admin_site import ScopedAdmin
from .access import colleagues_of, may, scoped, teams_where
from .models import ApiToken, Membership, Role, Team


class TeamScopedForm(forms.ModelForm):
    """Checks the model's constraints that involve read-only fields too, with their saved values: Django leaves out
    every constraint on a field the form does not have, so a name unique per team would otherwise reach the
    database (an error page) when the team is read-only."""

    def validate_unique(self):
        super().validate_unique()
        fixed = {f.name for f in self.instance._meta.fields if f.name not in self.fields}
        for constraint in self.instance._meta.constraints:
            names = set(getattr(constraint, "fields", ()))
            if names & fixed and not names & set(self.errors):
                try:
                    constraint.validate(type(self.instance), self.instance)
                except ValidationError as exc:
                    self._update_errors(exc)


class TeamScopedAdmin(ScopedAdmin):
    """A team's objects: seen by its members, changed and deleted by those holding `role_to_change` in it.

    `add_fields` are the fields of the add form (None: objects are not added here), `editable_fields` those that
    can change afterwards; every other field is read-only, so a field added to the model later starts read-only.
    `kept_because(obj)` says why an object cannot be deleted (a history depends on it), shown on the delete page.
    """

    team_path = "team"
    role_to_change = Role.EDITOR
    add_fields = None
    editable_fields = ()
    form = TeamScopedForm

    def team_of(self, obj):
        return reduce(getattr, self.team_path.split("__"), obj)

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request.user, self.team_path)

    def holds(self, request, obj, role):
        """Whether the user holds `role` in the object's team, or (no object) in any team. Remembered for the
        request by the object's first step towards its team: a delete page asks for every example of a dataset."""
        if obj is None:
            return teams_where(request.user, role).exists()
        step = self.team_path.split("__")[0]
        key = (self.model, getattr(obj, self.model._meta.get_field(step).attname), role)
        known = request.__dict__.setdefault("_promptopt_roles", {})
        if key not in known:
            known[key] = may(request.user, self.team_of(obj), role)
        return known[key]

    def has_add_permission(self, request):
        return (self.add_fields is not None and super().has_add_permission(request)
                and self.holds(request, None, self.role_to_change))

    def has_change_permission(self, request, obj=None):
        return (bool(self.editable_fields) and super().has_change_permission(request, obj)
                and self.holds(request, obj, self.role_to_change))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.holds(request, obj, self.role_to_change)

    def get_readonly_fields(self, request, obj=None):
        writable = self.editable_fields if obj is not None else (self.add_fields or ())
        hidden = set(self.exclude or ())
        model_fields = [f.name for f in self.model._meta.fields
                        if f.editable and not f.auto_created and f.name not in writable and f.name not in hidden]
        return [*model_fields, *(name for name in self.readonly_fields if name not in model_fields)]

    def get_fields(self, request, obj=None):
        order = {f.name: i for i, f in enumerate(self.model._meta.fields)}
        return sorted(super().get_fields(request, obj), key=lambda name: order.get(name, len(order)))

    def get_list_filter(self, request):
        """A filter on a relation lists only the values the user's own objects have, never every team's."""
        return [
            (spec, admin.RelatedOnlyFieldListFilter)
            if isinstance(spec, str) and get_fields_from_path(self.model, spec)[-1].is_relation else spec
            for spec in super().get_list_filter(request)
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = self.choices_for(db_field.remote_field.model, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def choices_for(self, model, request):
        """What a form may point to: teams where the user may change things, their colleagues, and the objects of
        those teams; nothing of a model this site does not scope."""
        user = request.user
        if model is Team:
            return teams_where(user, self.role_to_change)
        if model is get_user_model():
            return colleagues_of(user)
        related = self.admin_site._registry.get(model)
        if isinstance(related, TeamScopedAdmin):
            return related.get_queryset(request).filter(
                **{f"{related.team_path}__in": teams_where(user, self.role_to_change)})
        return model._default_manager.all() if user.is_superuser else model._default_manager.none()

    def kept_because(self, obj):
        return []

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [reason for obj in objs for reason in self.kept_because(obj)]
        if kept:  # say why it is kept, rather than which of the records that would go with it one may not delete
            return deleted, counts, set(), [*kept, *protected]
        return deleted, counts, perms_needed, protected


class MembershipInline(admin.TabularInline):
    """Superusers manage members on the team's page; everyone else reads the list here and manages members on
    the memberships page, where each one is checked."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def has_add_permission(self, request, obj):
        return request.user.is_superuser and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    """Teams are made and deleted by superusers: a team is the boundary every other rule stands on, and a staff
    account that could make one could make itself its approver. A team's approvers may rename it."""

    team_path = "id"
    role_to_change = Role.APPROVER
    add_fields = ("name",)
    editable_fields = ("name",)
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def team_of(self, obj):
        return obj

    def has_add_permission(self, request):
        return request.user.is_superuser  # also the first team, when no team exists to hold a role in

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def kept_because(self, team):
        entries = team.audit_entries.count()
        return [f"{team}: its review history ({entries} audit entries) is kept."] if entries else []


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    """Memberships are managed by superusers and by the team's approvers, and nobody manages their own: no raising
    one's own role, no joining another team, no adding oneself."""

    role_to_change = Role.APPROVER
    add_fields = ("team", "user", "role")
    editable_fields = ("role",)
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]

    def get_autocomplete_fields(self, request):
        return ["user", "team"] if request.user.is_superuser else []

    def not_ones_own(self, request, membership):
        return membership is None or request.user.is_superuser or membership.user_id != request.user.pk

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.not_ones_own(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.not_ones_own(request, obj)

    def choices_for(self, model, request):
        choices = super().choices_for(model, request)
        return choices if model is not get_user_model() or request.user.is_superuser \
            else choices.exclude(pk=request.user.pk)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(ScopedAdmin):
    """Tokens are made here or in the pages; the key is shown once, in the message after saving."""

    list_display = ["name", "user", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    form = ApiTokenForm

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user", "name", "scope", "expires_at"] if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)  # one's own tokens only
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, key = ApiToken.issue(user=obj.user, name=obj.name, scope=obj.scope, expires_at=obj.expires_at)
        obj.pk = token.pk
        self.message_user(request, f"The key of {token.name}: {key} — copy it now, it is not shown again.",
                          messages.WARNING)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoke()
