from django.contrib.auth import views as auth_views
from django.urls import include, path

from .views import catalog, dashboard, imports, users

urlpatterns = [
    path("", dashboard.DashboardView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("imports/", imports.ImportBatchListView.as_view(), name="import-list"),
    path("imports/new/", imports.ImportBatchCreateView.as_view(), name="import-create"),
    path("imports/<int:pk>/", imports.ImportBatchDetailView.as_view(), name="import-detail"),
    path(
        "imports/<int:pk>/progress.json",
        imports.ImportBatchProgressView.as_view(),
        name="import-progress",
    ),
    path(
        "imports/<int:pk>/rejected.csv",
        imports.ImportRejectionCsvView.as_view(),
        name="import-rejections-csv",
    ),
    path("customers/", catalog.CustomerListView.as_view(), name="customer-list"),
    path(
        "customers/<str:external_id>/",
        catalog.CustomerDetailView.as_view(),
        name="customer-detail",
    ),
    path("products/", catalog.ProductListView.as_view(), name="product-list"),
    path("products/<str:external_id>/", catalog.ProductDetailView.as_view(), name="product-detail"),
    path("users/", users.UserListView.as_view(), name="user-list"),
    path("users/new/", users.UserCreateView.as_view(), name="user-create"),
    path("users/<int:pk>/role/", users.UserRoleUpdateView.as_view(), name="user-role"),
    path("", include("segments.urls")),
    path("", include("recommendations.urls")),
    path("", include("campaigns.urls")),
]
