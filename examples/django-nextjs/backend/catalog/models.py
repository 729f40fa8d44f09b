from django.db import models


class Article(models.Model):
    """Something to list, open and search."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.CharField(max_length=500)
    body = models.TextField()
    category = models.CharField(max_length=50)
    tags = models.CharField(max_length=200, blank=True, help_text="comma-separated")
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-published_at", "slug"]

    def __str__(self):
        return self.title

    def tag_list(self):
        return [t.strip() for t in self.tags.split(",") if t.strip()]
