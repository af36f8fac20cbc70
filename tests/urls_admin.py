"""Only the admin: admin tests do not depend on the dashboard's URLs."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
