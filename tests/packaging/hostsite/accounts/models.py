"""The host's own users: e-mail is the login, extensions are dialable numbers."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    extension = models.CharField(max_length=8, unique=True, null=True, blank=True)
    may_call = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()


class CallNote(models.Model):
    """What the host's signal receivers saw: one row per signal."""

    signal = models.CharField(max_length=20)
    call_id = models.CharField(max_length=64)
    detail = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True)
