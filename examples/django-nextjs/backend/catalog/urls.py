from django.urls import path

from catalog import views

urlpatterns = [
    path("articles/", views.ArticleList.as_view()),
    path("articles/<slug:slug>/", views.ArticleDetail.as_view()),
    path("search/", views.Search.as_view()),
    path("auth/csrf/", views.Csrf.as_view()),
    path("auth/login/", views.Login.as_view()),
    path("auth/logout/", views.Logout.as_view()),
    path("auth/token/", views.ObtainToken.as_view()),
    path("me/", views.Me.as_view()),
    path("echo/", views.Echo.as_view()),
]
