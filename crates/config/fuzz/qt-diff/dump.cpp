#include <QCoreApplication>
#include <QSettings>
#include <QStringList>
#include <cstdio>
static QString esc(const QString &s) {
    QString o;
    for (QChar c : s) {
        ushort u = c.unicode();
        if (u >= 0x20 && u < 0x7f && u != '\\' && u != '|') o += c;
        else o += QString("\\u%1").arg(u, 4, 16, QChar('0'));
    }
    return o;
}
int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    for (int i = 1; i < argc; ++i) {
        QSettings s(QString::fromLocal8Bit(argv[i]), QSettings::IniFormat);
        QStringList keys = s.allKeys();
        keys.sort();
        for (const QString &k : keys) {
            QVariant v = s.value(k);
            QString line = esc(k) + "|";
            switch (v.type()) {
            case QVariant::String: case QVariant::ByteArray: line += "S|" + esc(v.toString()); break;
            case QVariant::StringList: case QVariant::List: {
                line += "L";
                for (const QString &e : v.toStringList()) line += "|" + esc(e);
                break; }
            default: line += "I"; break;
            }
            printf("%s\n", line.toUtf8().constData());
        }
        printf("@@END@@\n");
    }
    return 0;
}
