"""A throwaway Django project for tests: swf-monitor's auth tables, made by Django itself.

Run with Debian's /usr/bin/python3 (python3-django, python3-djangorestframework,
python3-psycopg2). The database comes from DJANGO_TEST_DATABASE: `sqlite:<path>`
or `postgres://user@host:port/name`. Django is configured in-process
(settings.configure, the same as a settings module). Commands are JSON lists
`[command, args...]`, one per line on stdin; each answer is one JSON line on
stdout, `{"ok": answer}` or `{"error": text}`, so one Django start-up serves a
whole test. Changes answer with `at`, the time (UNIX seconds) they committed.

  migrate                        create the tables (call_command('migrate'))
  user NAME [--inactive]         a user with a password; answers {"id"}
  token NAME                     Token.objects.create; answers {"key"}
  login NAME [--legacy]          django.test.Client().login(); answers {"sessionid"}
                                 (--legacy: session_data in the pre-3.1 format)
  anonymous-session              a session row without a user; answers {"sessionid"}
  garbage-session                a session row whose data is not Django's; answers {"sessionid"}
  expire-session KEY             moves expire_date an hour into the past
  delete-token KEY | delete-session KEY | deactivate NAME
  dump                           every row of the auth, authtoken and session tables; answers {"sha256", "rows"}
"""
import hashlib
import json
import os
import sys
import time
import traceback
from datetime import timedelta
from urllib.parse import unquote, urlparse

EXIT_MISSING = 3


def require_packages():
    missing = []
    for module, package in (('django', 'python3-django'), ('rest_framework', 'python3-djangorestframework')):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if os.environ.get('DJANGO_TEST_DATABASE', '').startswith('postgres'):
        try:
            __import__('psycopg2')
        except ImportError:
            missing.append('python3-psycopg2')
    if missing:
        sys.stderr.write('missing Debian package(s): %s (apt-get install -y --no-install-recommends %s)\n' % (', '.join(missing), ' '.join(missing)))
        sys.exit(EXIT_MISSING)


def database_settings(url):
    if url.startswith('sqlite:'):
        return {'ENGINE': 'django.db.backends.sqlite3', 'NAME': url[len('sqlite:'):]}
    parts = urlparse(url)
    return {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': parts.path.lstrip('/'),
        'USER': unquote(parts.username or ''),
        'PASSWORD': unquote(parts.password or ''),
        'HOST': parts.hostname or '',
        'PORT': str(parts.port or ''),
    }


def configure():
    from django.conf import settings
    settings.configure(
        SECRET_KEY='throwaway-test-project-' + os.urandom(8).hex(),  # the relay never knows it
        INSTALLED_APPS=[
            'django.contrib.auth',
            'django.contrib.contenttypes',
            'django.contrib.sessions',
            'rest_framework',
            'rest_framework.authtoken',
        ],
        DATABASES={'default': database_settings(os.environ['DJANGO_TEST_DATABASE'])},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD='django.db.models.BigAutoField',
        PASSWORD_HASHERS=['django.contrib.auth.hashers.MD5PasswordHasher'],  # fast: the relay never checks passwords
        ALLOWED_HOSTS=['testserver'],
    )
    import django
    django.setup()


PASSWORD = 'correct horse battery staple'


def login(name, legacy):
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings
    # Django 3.1/3.2 still write the pre-3.1 session format when asked for sha1 (a deployment in transition).
    with override_settings(DEFAULT_HASHING_ALGORITHM='sha1') if legacy else override_settings():
        client = Client()
        if not client.login(username=name, password=PASSWORD):
            raise SystemExit('login of %s failed' % name)
        return client.cookies[settings.SESSION_COOKIE_NAME].value


def dump():
    from django.db import connection
    tables = ['auth_user', 'auth_group', 'auth_user_groups', 'auth_user_user_permissions', 'auth_permission',
              'django_content_type', 'authtoken_token', 'django_session', 'django_migrations']
    digest = hashlib.sha256()
    rows = 0
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute('SELECT * FROM %s ORDER BY 1' % connection.ops.quote_name(table))
            for row in cursor.fetchall():
                digest.update(repr((table, row)).encode())
                rows += 1
    return {'sha256': digest.hexdigest(), 'rows': rows}


def run(argv):
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    command, args = argv[0], argv[1:]
    if command == 'migrate':
        call_command('migrate', verbosity=0, interactive=False)
        return {}
    if command == 'user':
        user = User.objects.create_user(args[0], password=PASSWORD, is_active='--inactive' not in args)
        return {'id': user.pk}
    if command == 'token':
        return {'key': Token.objects.create(user=User.objects.get(username=args[0])).key}
    if command == 'login':
        return {'sessionid': login(args[0], '--legacy' in args)}
    if command == 'anonymous-session':
        session = SessionStore()
        session['cart'] = ['nothing', 'to', 'see']
        session.create()
        return {'sessionid': session.session_key}
    if command == 'garbage-session':
        key = os.urandom(16).hex()
        Session.objects.create(session_key=key, session_data='bm90IGEgc2Vzc2lvbg:garbage:x', expire_date=timezone.now() + timedelta(days=1))
        return {'sessionid': key}
    # Autocommit: each change below is committed when its call returns.
    if command == 'expire-session':
        return {'updated': Session.objects.filter(pk=args[0]).update(expire_date=timezone.now() - timedelta(hours=1)), 'at': time.time()}
    if command == 'delete-token':
        return {'deleted': Token.objects.filter(pk=args[0]).delete()[0], 'at': time.time()}
    if command == 'delete-session':
        return {'deleted': Session.objects.filter(pk=args[0]).delete()[0], 'at': time.time()}
    if command == 'deactivate':
        return {'updated': User.objects.filter(username=args[0]).update(is_active=False), 'at': time.time()}
    if command == 'dump':
        return dump()
    raise ValueError('unknown command %r' % command)


if __name__ == '__main__':
    require_packages()
    configure()
    for line in sys.stdin:
        try:
            answer = {'ok': run(json.loads(line))}
        except Exception:
            answer = {'error': traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()
