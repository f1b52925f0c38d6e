"""The escalation workspace's routes: the list, a case's page and the forms that work it."""

from django.urls import path

from escalations import views

app_name = "escalations"
urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("rows/", views.rows, name="rows"),
    path("<int:case_id>/", views.case, name="case"),
    path("<int:case_id>/row/", views.row, name="row"),
    path("<int:case_id>/row/acknowledge/", views.row_acknowledge, name="row-acknowledge"),
    path("<int:case_id>/panel/", views.panel, name="panel"),
    path("<int:case_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:case_id>/reassign/", views.reassign, name="reassign"),
    path("<int:case_id>/resolve/<str:outcome>/", views.resolve, name="resolve"),
    path("<int:case_id>/edit/", views.edit, name="edit"),
]
